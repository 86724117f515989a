#!/bin/sh
# On the front-end, for each node that leaves (DLXC_NODE): forget its host key, so a node made again
# under the same name (addnode fills the hole) is accepted anew rather than refused as an impostor.
set -eu
if [ -f /root/.ssh/known_hosts ]; then
    ssh-keygen -R "$DLXC_NODE" -f /root/.ssh/known_hosts >/dev/null 2>&1 || true
fi
