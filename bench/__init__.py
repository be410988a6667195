"""`make bench`: speed and quality of the retrieval library against baselines."""
