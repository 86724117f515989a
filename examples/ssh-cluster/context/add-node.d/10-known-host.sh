#!/bin/sh
# On the front-end, for each node that joins (DLXC_NODE): let ssh accept the new node's host key on first use.
set -eu
grep -qw "$DLXC_NODE" /root/.ssh/config 2>/dev/null || printf 'Host %s\n    StrictHostKeyChecking accept-new\n' "$DLXC_NODE" >> /root/.ssh/config
