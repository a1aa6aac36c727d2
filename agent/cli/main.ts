console.log("pixelrts");
