"""Text analysis shared by every stage: the one tokeniser, the one sentence splitter, names,
question understanding, WordNet relatives and GeoNames places.
"""
