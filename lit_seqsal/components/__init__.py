"""LIT interpreters (components) for sequence salience."""
