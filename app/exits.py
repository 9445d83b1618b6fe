"""Exit codes of every `prep` command."""

EXIT_OK = 0
EXIT_FAILURE = 1  # the run (or training, or a check) failed
EXIT_USAGE = 2  # a bad config, setting or command line
