"""``python -m sandbox.linode``: the emulator's daemon, as ``sandbox.linode.start()`` runs it."""

from sandbox.linode import main

main()
