"""Training recipe for tac's adaptive models (see docs/training.md).

Run ``python -m tac.train --help``; ``scripts/train.sh`` is the full recipe.
"""
