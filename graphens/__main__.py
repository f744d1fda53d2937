from graphens.cli import main
import sys
sys.exit(main())
