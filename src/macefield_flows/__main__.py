"""``python -m macefield_flows``: the ``macefield`` command line."""

from macefield_flows.cli.app import main

if __name__ == "__main__":
    main()
