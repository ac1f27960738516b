"""Users, sign-in and profiles."""
