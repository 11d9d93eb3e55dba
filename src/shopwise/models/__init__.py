"""Models of the personalization loop: candidate generators, rankers and customer models."""
