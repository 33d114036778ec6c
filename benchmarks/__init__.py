"""`make bench`: the product's figures, one JSON object per line (see docs in README)."""
