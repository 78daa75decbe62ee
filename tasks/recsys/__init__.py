"""Neural collaborative filtering on implicit feedback, from interactions to top-K lists."""
