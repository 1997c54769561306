"""Numero Unico: one city phone number, end to end."""
