#!/usr/bin/env python3
"""Stylize photos with a trained transform net or by slow optimisation: see ``--help``."""

import sys

from transformnet.cli import main

if __name__ == "__main__":
    sys.exit(main())
