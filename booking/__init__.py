"""Booking by phone: offices, slots, appointments and certificate requests (see issue 3)."""
