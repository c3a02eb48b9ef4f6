// Drive imagehub with the real AIGNE Hub client (@aigne/aigne-hub), as an AIGNE app would.
//
//   node generate.mjs <hub url> <api key> <scenario>
//
// Prints one JSON object on stdout: {"results": [...]} with what the client returned, or
// {"error": {"message", "type"}} when the client threw (exit code 1 unless the scenario expects
// an error). tests/test_aigne.py runs every scenario against a real hub.

import { readFile } from "node:fs/promises";
import { AIGNEHubImageModel } from "@aigne/aigne-hub";
import { AIGNE } from "@aigne/core";

const [hubURL, apiKey, scenario] = process.argv.slice(2);
if (!hubURL || !apiKey || !scenario) {
  console.error("usage: node generate.mjs <hub url> <api key> <scenario>");
  process.exit(2);
}

const aigne = new AIGNE();

/** The client's own model, constructed exactly as an app constructs it. */
function hubModel(model, baseURL = hubURL) {
  return new AIGNEHubImageModel({ baseURL, apiKey, ...(model ? { model } : {}) });
}

/** What the app got back; local files are read so the test can check their bytes too. */
async function describe(output) {
  const images = [];
  for (const image of output.images) {
    const item = { type: image.type, mimeType: image.mimeType };
    if (image.type === "url") item.url = image.url;
    if (image.type === "file") item.data = image.data;
    if (image.type === "local") {
      item.path = image.path;
      item.data = (await readFile(image.path)).toString("base64");
    }
    images.push(item);
  }
  return { images, usage: output.usage, model: output.model };
}

async function generate(model, input, baseURL) {
  return describe(await aigne.invoke(hubModel(model, baseURL), input));
}

const prompt = "a lighthouse at dawn";

const scenarios = {
  // /api/v2/image with a bare model name, answered with a signed URL.
  "url-bare": async () => [
    await generate("dall-e-2", { prompt, n: 2, outputFileType: "url", modelOptions: { size: "256x256" } }),
  ],
  // The client fetches the signed URL itself (no Authorization header) and hands back base64.
  "file-bare": async () => [
    await generate("dall-e-2", { prompt, outputFileType: "file", modelOptions: { size: "512x512" } }),
  ],
  // Prefixed names reach /api/v2/image through modelOptions.model, or `aignehub/<provider>/<model>`.
  prefixed: async () => [
    await generate(undefined, {
      prompt,
      outputFileType: "file",
      modelOptions: { model: "openai/dall-e-3", size: "1024x1792", quality: "hd", style: "natural" },
    }),
    await generate("aignehub/openai/gpt-image-1", {
      prompt,
      size: "1536x1024",
      outputFileType: "url",
      modelOptions: { quality: "low", outputFormat: "webp", outputCompression: 60 },
    }),
  ],
  // No outputFileType: AIGNE's default, a local file the client downloads.
  "default-local": async () => [await generate("gemini-2.5-flash-image", { prompt })],
  // baseURL ending in /api with `openai/...`: the client speaks OpenAI's protocol instead.
  "openai-protocol": async () => [
    await generate(
      "openai/dall-e-2",
      { prompt, n: 2, outputFileType: "url", modelOptions: { size: "256x256" } },
      `${hubURL}/api`,
    ),
    await generate(
      "openai/dall-e-3",
      { prompt, outputFileType: "file", modelOptions: { size: "1792x1024" } },
      `${hubURL}/api`,
    ),
  ],
  // The client's README setup: baseURL is the hub itself and the model `openai/...`, so the
  // client speaks OpenAI's protocol to <hub>/images/generations.
  "openai-protocol-root": async () => [
    await generate("openai/dall-e-3", { prompt, outputFileType: "url", modelOptions: { quality: "hd" } }),
  ],
  // An edit: the source image is one the hub made, passed as {type: "url"}.
  edit: async () => {
    const [first] = (await generate("dall-e-2", { prompt, outputFileType: "url" })).images;
    return [
      await generate(undefined, {
        prompt: "make it blue",
        image: [{ type: "url", url: first.url }],
        outputFileType: "file",
        modelOptions: { model: "openai/gpt-image-1", size: "1024x1024" },
      }),
    ];
  },
  // The model list, through the client's own helper (it sends no key).
  models: async () => {
    process.env.AIGNE_HUB_API_URL = hubURL;
    return AIGNEHubImageModel.models();
  },
  "validation-error": async () =>
    generate("dall-e-3", { prompt, outputFileType: "url", modelOptions: { size: "256x256" } }),
  "unknown-model-error": async () =>
    generate(undefined, { prompt, outputFileType: "url", modelOptions: { model: "openai/dall-e-9" } }),
  "openai-protocol-error": async () =>
    generate("openai/dall-e-3", { prompt, modelOptions: { size: "256x256" } }, `${hubURL}/api`),
};

const run = scenarios[scenario];
if (!run) {
  console.error(`unknown scenario ${scenario}; one of: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
try {
  console.log(JSON.stringify({ results: await run() }));
} catch (error) {
  console.log(JSON.stringify({ error: { message: error.message, type: error.type ?? null } }));
  process.exit(scenario.endsWith("error") ? 0 : 1);
}
