import sys

from dfcvae.cli import main

sys.exit(main())
