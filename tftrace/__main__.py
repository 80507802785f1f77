"""`python -m tftrace` is the `tftrace` command."""

from tftrace.cli import main

main()
