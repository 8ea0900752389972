"""What a frame's own pixels say: its pedestal and noise, its gain and dark current, and the matched filter."""
