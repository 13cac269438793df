// Validates Prometheus Operator manifests (ServiceMonitor, PrometheusRule) offline, for tests/test_kubernetes.py.
//
//   node tests/k8s/validate.mjs < manifests.json     # a JSON array of manifests
//
// Two checks, both from @kubernetes-models/prometheus-operator (generated from the operator's Go API types):
//   - its JSON schema validator: types, required fields, enums and patterns (a Duration such as "1m");
//   - its TypeScript declarations, compiled against each manifest: a field the API does not have (a misspelt
//     one) is an error there, while the JSON schema lets unknown fields through.
// Prints "ok KIND/NAME" for each valid manifest; otherwise one line per problem on stderr and exit 1.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
// One module per kind (the package's index would load, and type-check, every kind it has).
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const PACKAGE = "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
const MODELS = {
  "monitoring.coreos.com/v1/ServiceMonitor": { model: ServiceMonitor, type: "IServiceMonitor", module: "ServiceMonitor" },
  "monitoring.coreos.com/v1/PrometheusRule": { model: PrometheusRule, type: "IPrometheusRule", module: "PrometheusRule" },
};
const HERE = dirname(fileURLToPath(import.meta.url));
// Resolved from here, so the compiler finds node_modules/ beside this script.
const SOURCE = join(HERE, "manifests.generated.ts");

function label(doc, index) {
  return `document ${index} (${doc?.kind ?? "?"}/${doc?.metadata?.name ?? "?"})`;
}

function schemaProblems(doc, index) {
  try {
    new MODELS[`${doc.apiVersion}/${doc.kind}`].model(doc).validate();
    return [];
  } catch (error) {
    return [`${label(doc, index)}: ${error.message}`];
  }
}

// One typed constant per manifest; each starts on a known line, so a diagnostic names its manifest.
function typedSource(docs) {
  const models = new Set(docs.map((doc) => MODELS[`${doc.apiVersion}/${doc.kind}`]));
  const lines = [...models].map(({ type, module }) => `import type { ${type} } from "${PACKAGE}/${module}";`);
  const starts = [];
  docs.forEach((doc, index) => {
    starts.push(lines.length);
    const type = MODELS[`${doc.apiVersion}/${doc.kind}`].type;
    lines.push(...`export const manifest${index}: ${type} = ${JSON.stringify(doc, null, 2)};`.split("\n"));
  });
  return { text: lines.join("\n") + "\n", starts };
}

function typeProblems(docs) {
  const { text, starts } = typedSource(docs);
  const options = {
    strict: true, noEmit: true, skipLibCheck: true, types: [], lib: ["lib.es2022.d.ts"],  // no DOM: faster
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, version, ...rest) => name === SOURCE
    ? ts.createSourceFile(name, text, version) : getSourceFile.call(host, name, version, ...rest);
  host.fileExists = (name) => name === SOURCE || fileExists.call(host, name);
  host.readFile = (name) => name === SOURCE ? text : readFile.call(host, name);
  const program = ts.createProgram([SOURCE], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
    if (diagnostic.file?.fileName !== SOURCE) return `typescript: ${message}`;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    const index = starts.findLastIndex((start) => start <= line);
    const at = diagnostic.file.text.split("\n")[line].trim();
    return index < 0 ? `typescript: ${message}` : `${label(docs[index], index)}: ${message} (at ${at})`;
  });
}

const docs = JSON.parse(readFileSync(0, "utf8"));
if (!Array.isArray(docs) || docs.length === 0) {
  console.error("expected a non-empty JSON array of manifests on stdin");
  process.exit(2);
}
const unknown = docs.map((doc, index) => [doc, index]).filter(([doc]) => !MODELS[`${doc?.apiVersion}/${doc?.kind}`]);
if (unknown.length) {
  for (const [doc, index] of unknown) console.error(`${label(doc, index)}: no validator for ${doc?.apiVersion} ${doc?.kind}`);
  process.exit(2);
}
const problems = [...docs.flatMap(schemaProblems), ...typeProblems(docs)];
if (problems.length) {
  for (const problem of problems) console.error(problem);
  process.exit(1);
}
for (const doc of docs) console.log(`ok ${doc.kind}/${doc.metadata?.name}`);
