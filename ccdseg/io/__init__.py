"""Files in and out: FITS frames and class maps, cluster catalogues, .npy and PNG data sets, labelme files."""
