#!/bin/sh
# Every member: install and start an OpenSSH server (Debian, Ubuntu). The front-end makes a key pair
# and leaves it in the shared /home; each node waits for it and trusts it, so `ssh node1` works from
# the front-end. Run once per member at first boot, as root, with DLXC_ROLE, DLXC_CLUSTER, ... set.
set -eu
export DEBIAN_FRONTEND=noninteractive
share=/home/.dlxc-ssh

if ! command -v sshd >/dev/null 2>&1 || ! command -v ssh-keygen >/dev/null 2>&1; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends openssh-server openssh-client
fi
mkdir -p /run/sshd /root/.ssh
chmod 700 /root/.ssh

if [ "$DLXC_ROLE" = frontend ]; then
    mkdir -p "$share"
    chmod 700 "$share"
    if [ ! -f "$share/id_ed25519.pub" ]; then
        # Made aside and moved in whole, so a node never reads half a key.
        ssh-keygen -q -t ed25519 -N '' -C "root@$DLXC_CLUSTER-frontend" -f "$share/.new"
        mv "$share/.new" "$share/id_ed25519"
        mv "$share/.new.pub" "$share/id_ed25519.pub"
    fi
    cp "$share/id_ed25519" "$share/id_ed25519.pub" /root/.ssh/
    chmod 600 /root/.ssh/id_ed25519
    # The nodes' host keys are new to the front-end: accept them on first use.
    printf 'Host frontend %s\n    StrictHostKeyChecking accept-new\n' "$DLXC_NODES" > /root/.ssh/config
else
    waited=0
    while [ ! -f "$share/id_ed25519.pub" ]; do
        if [ "$waited" -ge 600 ]; then
            echo "no front-end key in $share after 600 s: does the cluster share /home (--device home)?" >&2
            exit 1
        fi
        sleep 2
        waited=$((waited + 2))
    done
    key=$(cat "$share/id_ed25519.pub")
    touch /root/.ssh/authorized_keys
    grep -qxF "$key" /root/.ssh/authorized_keys || echo "$key" >> /root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl enable --now ssh
else
    /usr/sbin/sshd
fi
