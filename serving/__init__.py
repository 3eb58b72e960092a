"""serving package of allocast."""
