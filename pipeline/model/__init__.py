"""The cart-abandonment model: contract, training, artifact, SQL scoring, explanations."""
