// A mask painted in the browser: what the user paints becomes the mask's transparent area,
// which is what OpenAI's edits API (and the hub) read as "change this part".
export class MaskPainter {
  constructor(canvas, brushInput) {
    this.canvas = canvas;
    this.brush = brushInput;
    this.ctx = canvas.getContext("2d");
    this.painted = false;
    this.image = null;
    let drawing = false;
    const point = (event) => {
      const rect = canvas.getBoundingClientRect();
      const scale = canvas.width / rect.width;
      return [(event.clientX - rect.left) * scale, (event.clientY - rect.top) * scale, scale];
    };
    const stroke = (event) => {
      if (!drawing) return;
      const [x, y, scale] = point(event);
      this.ctx.fillStyle = "rgba(255, 40, 80, 1)";
      this.ctx.beginPath();
      this.ctx.arc(x, y, (Number(this.brush.value) / 2) * scale, 0, Math.PI * 2);
      this.ctx.fill();
      this.painted = true;
    };
    canvas.addEventListener("pointerdown", (event) => {
      drawing = true;
      canvas.setPointerCapture(event.pointerId);
      stroke(event);
    });
    canvas.addEventListener("pointermove", stroke);
    canvas.addEventListener("pointerup", () => { drawing = false; });
    canvas.addEventListener("pointercancel", () => { drawing = false; });
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
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.globalCompositeOperation = "destination-out";
    ctx.drawImage(this.canvas, 0, 0);
    return new Promise((resolve) => out.toBlob(resolve, "image/png"));
  }
}
