// Validates custom resources (JSON lines on stdin: {"apiVersion", "kind", ...}) against the models
// @kubernetes-models generates from the official CRDs. Prints one line per object: "ok <kind>/<name>"
// or "error <kind>/<name>: <message>"; exits 1 if any object is invalid or of an unknown kind.
import { createInterface } from "node:readline";

const MODULES = {
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

async function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.split("/");
  const pkg = MODULES[group];
  if (!pkg) return null;
  try {
    const mod = await import(`${pkg}/${group}/${version}/${kind}`);
    return mod[kind] ?? null;
  } catch {
    return null;
  }
}

let failed = false;
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const doc = JSON.parse(line);
  const id = `${doc.kind}/${doc.metadata?.name}`;
  const Model = await modelFor(doc.apiVersion, doc.kind);
  if (!Model) {
    console.log(`error ${id}: no schema for ${doc.apiVersion} ${doc.kind}`);
    failed = true;
    continue;
  }
  try {
    new Model(doc).validate();
    console.log(`ok ${id}`);
  } catch (err) {
    console.log(`error ${id}: ${err.message.replace(/\s+/g, " ")}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
