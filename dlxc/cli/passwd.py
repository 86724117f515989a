"""`dlxc passwd NAME`: set a user's password inside the container, as a SHA-512 crypt hash in /etc/shadow.

The hash is made here (`openssl passwd -6`, the password on its stdin) and only the hash travels,
on the exec session's stdin: the password is in no argv, log, Event or stored object anywhere.
"""
from __future__ import annotations

import typer

from dlxc.cli.completion import complete_container_names

__all__ = ["SET_HASH", "passwd", "sha512_crypt"]

# Reads the hash from stdin; chpasswd -e where the image has it, else rewrites /etc/shadow itself
# (busybox images have no chpasswd), keeping every other field and line as it was.
SET_HASH = r'''
user="$1"
IFS= read -r hash || { echo "no hash on stdin" >&2; exit 2; }
case "$hash" in '$6$'*) ;; *) echo "not a SHA-512 crypt hash" >&2; exit 2;; esac
grep -q "^$user:" /etc/passwd || { echo "no user $user in /etc/passwd" >&2; exit 2; }
if command -v chpasswd >/dev/null 2>&1 && printf '%s:%s\n' "$user" "$hash" | chpasswd -e 2>/dev/null; then exit 0; fi
umask 077
tmp="/etc/.shadow.dlxc.$$"
found=0
if [ -f /etc/shadow ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      "$user":*) rest="${line#*:}"; rest="${rest#*:}"; printf '%s:%s:%s\n' "$user" "$hash" "$rest"; found=1;;
      *) printf '%s\n' "$line";;
    esac
  done < /etc/shadow > "$tmp"
else
  : > "$tmp"
fi
[ "$found" = 1 ] || printf '%s:%s:%s:0:99999:7:::\n' "$user" "$hash" "$(( $(date +%s) / 86400 ))" >> "$tmp"
chmod 600 "$tmp" && mv "$tmp" /etc/shadow
'''


def sha512_crypt(password: str) -> str:
    """A `$6$` hash of the password with a random salt (openssl reads the password from stdin)."""
    import subprocess

    result = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"], input=password + "\n", capture_output=True, text=True, check=False
    )
    hashed = result.stdout.strip()
    if result.returncode != 0 or not hashed.startswith("$6$"):
        raise RuntimeError(f"openssl passwd -6 failed: {result.stderr.strip()}")
    return hashed


def passwd(
    name: str = typer.Argument(..., help="Container.", autocompletion=complete_container_names),
    user: str = typer.Option("root", "--user", "-u", help="Whose password."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin (first line)."),
) -> None:
    """Set USER's password inside container NAME (prompted twice on a terminal)."""
    import getpass
    import sys

    from dlxc.cli import console
    from dlxc.cli.common import fail, with_client
    from dlxc.cli.exec import exec_params
    from dlxc.client.api import Client
    from dlxc.client.streams import open_stream

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"New password for {user} in {name}: ")
        if getpass.getpass("Again: ") != password:
            fail("the passwords differ", 1)
    else:
        fail("give --password-stdin to read the password from a pipe", 2)
    if not password:
        fail("the password is empty", 1)
    hashed = sha512_crypt(password)
    del password
    params = exec_params(["/bin/sh", "-c", SET_HASH, "dlxc-passwd", user], tty=False, stdin=True)
    errors: list[bytes] = []

    async def go(client: Client):  # type: ignore[no-untyped-def]
        stream = await open_stream(client, name, "exec", params)
        await stream.send_stdin(hashed.encode() + b"\n")
        await stream.close_stdin()
        return await stream.output(lambda channel, data: errors.append(data))

    outcome = with_client(go, streaming=True)
    if outcome.exit_code != 0:
        fail(outcome.message or b"".join(errors).decode(errors="replace").strip() or f"setting the password failed ({outcome.exit_code})")
    console.out(f"password of {user} in container/{name} set")
