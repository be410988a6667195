"""Store: the on-disk index, owned by one object, `IndexStore` (manifest, generations, FAISS and
BM25, durable writes).
"""
