"""allocation package of allocast."""
