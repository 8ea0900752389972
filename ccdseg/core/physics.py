"""Physical constants of silicon CCDs, defined once (every other module imports them)."""
from __future__ import annotations

EV_PER_ELECTRON = 3.75  # mean energy to make one electron-hole pair in silicon at ~130 K, eV
FANO_FACTOR = 0.128  # variance of the number of pairs / its mean
PIXEL_SIZE_UM = 15.0  # DAMIC-M pixel pitch, micrometres
THICKNESS_UM = 675.0  # DAMIC-M CCD thickness, micrometres
MIP_ELECTRONS_PER_UM = 72.0  # most probable charge of a minimum-ionising particle in silicon, electrons per micrometre
DIFFUSION_SIGMA_PX = (0.2, 1.2)  # lateral diffusion of charge made at the front (collecting) and back side, px
