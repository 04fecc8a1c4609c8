"""The ``polyth`` command line: :func:`polyth.cli.main.main`, one module per subcommand."""
