"""itineraries"""
