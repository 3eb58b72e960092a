"""forecasting package of allocast."""
