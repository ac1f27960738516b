"""Passwords, tokens, field encryption and the authenticated principal."""
