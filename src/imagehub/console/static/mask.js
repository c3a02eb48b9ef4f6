// A mask painted in the browser: what the user paints becomes the mask's transparent area,
// which is what OpenAI's edits API (and the hub) read as "change this part".
export class MaskPainter {
  constructor(canvas, brushInput) {
    this.canvas = canvas;
    this.brush = brushInput;
    this.ctx = canvas.getContext("2d");
    this.painted = false;
    this.image = null;
    let last = null;
    const point = (event) => {
      const rect = canvas.getBoundingClientRect();
      const scale = canvas.width / rect.width;
      return [(event.clientX - rect.left) * scale, (event.clientY - rect.top) * scale, scale];
    };
    // Each move draws a round-capped segment from the last point, so fast strokes stay continuous.
    const stroke = (event) => {
      if (!last) return;
      const [x, y, scale] = point(event);
      this.ctx.strokeStyle = "rgba(255, 40, 80, 0.55)";
      this.ctx.lineWidth = Number(this.brush.value) * scale;
      this.ctx.lineCap = "round";
      this.ctx.lineJoin = "round";
      this.ctx.beginPath();
      this.ctx.moveTo(last[0], last[1]);
      this.ctx.lineTo(x + 0.01, y);
      this.ctx.stroke();
      last = [x, y];
      this.painted = true;
    };
    canvas.addEventListener("pointerdown", (event) => {
      canvas.setPointerCapture(event.pointerId);
      last = point(event);
      stroke(event);
    });
    canvas.addEventListener("pointermove", stroke);
    canvas.addEventListener("pointerup", () => { last = null; });
    canvas.addEventListener("pointercancel", () => { last = null; });
  }

  // Show `bitmap` under the paint layer, at its own pixel size (so the mask matches it exactly).
  load(bitmap) {
    this.image = bitmap;
    this.canvas.width = bitmap.width;
    this.canvas.height = bitmap.height;
    this.canvas.style.backgroundImage = "";
    const backdrop = document.createElement("canvas");
    backdrop.width = bitmap.width;
    backdrop.height = bitmap.height;
    backdrop.getContext("2d").drawImage(bitmap, 0, 0);
    this.canvas.style.backgroundImage = `url(${backdrop.toDataURL()})`;
    this.clear();
  }

  clear() {
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.painted = false;
  }

  // The mask as a PNG blob: opaque everywhere except the painted strokes; null if nothing painted.
  async toBlob() {
    if (!this.painted || !this.image) return null;
    const out = document.createElement("canvas");
    out.width = this.canvas.width;
    out.height = this.canvas.height;
    const ctx = out.getContext("2d");
    // Opaque black where nothing is painted, fully transparent wherever any paint is.
    const paint = this.ctx.getImageData(0, 0, out.width, out.height).data;
    const mask = ctx.createImageData(out.width, out.height);
    for (let i = 0; i < paint.length; i += 4) mask.data[i + 3] = paint[i + 3] ? 0 : 255;
    ctx.putImageData(mask, 0, 0);
    return new Promise((resolve) => out.toBlob(resolve, "image/png"));
  }
}
