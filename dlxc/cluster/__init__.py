"""Running a cluster on hosts: the local all-in-one cluster (`dlxc up`) and its PKI."""
