"""Fine-tuning jobs: their states, the store that keeps them (SQLAlchemy), and the worker that runs them."""
