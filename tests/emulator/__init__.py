"""Tests for the local memories.ai emulator."""
