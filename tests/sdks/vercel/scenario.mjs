// One turn of the Vercel AI SDK against the gateway, as the Python test asks for it:
//   node scenario.mjs '{"baseURL", "apiKey", "model", "tools": bool, "stream": bool, "prompt"}'
// Prints one JSON line: {text, streamed, calls} (calls: the arguments each tool call ran with).
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const args = JSON.parse(process.argv[2]);
const openai = createOpenAI({ baseURL: args.baseURL, apiKey: args.apiKey });
const calls = [];
const tools = args.tools
  ? {
      get_weather: tool({
        description: "The weather in a city.",
        inputSchema: z.object({ location: z.string(), unit: z.string() }),
        execute: async ({ location, unit }) => {
          calls.push({ location, unit });
          return `sunny in ${location}`;
        },
      }),
    }
  : undefined;
// openai(model) is the Responses API model in AI SDK 6.
const options = {
  model: openai(args.model),
  system: "Be brief.",
  prompt: args.prompt,
  tools,
  stopWhen: stepCountIs(4),
  maxRetries: 0,
};
let text;
let streamed = "";
if (args.stream) {
  const result = streamText({ ...options, onError: ({ error }) => { throw error; } });
  for await (const delta of result.textStream) streamed += delta;
  text = await result.text;
} else {
  text = (await generateText(options)).text;
}
process.stdout.write(JSON.stringify({ text, streamed, calls }) + "\n");
