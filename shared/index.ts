export const FORMAT = "PixelRTS-2.0";
