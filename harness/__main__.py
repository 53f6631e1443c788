"""``python -m harness`` is ``brownout``."""

from harness.cli import main

main()
