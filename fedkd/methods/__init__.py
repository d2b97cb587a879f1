"""Client-side methods of the personalized-FL comparison, one per file; `registry.METHODS` lists them."""
