"""`python -m dlxc` is the dlxc command."""
from dlxc.cli.main import main

main()
