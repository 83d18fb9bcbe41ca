// Bundle js/widget.js (the chat) and js/bar_widget.js (progress bars: a small bundle of
// its own, since every bar's model carries its module), each with the CSS it imports,
// into nbchat/static/{widget,bar}.{js,css}.
//
//   node esbuild.config.mjs           one build
//   node esbuild.config.mjs --watch   rebuild on change (with ANYWIDGET_HMR=1 the
//                                     running widget reloads the new files)
//
// One ES module with everything inlined: anywidget loads the file from a string, so
// relative imports cannot resolve, and nothing may come from a CDN at run time.
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");

/** @type {import("esbuild").BuildOptions} */
const options = {
  entryPoints: { widget: "js/widget.js", bar: "js/bar_widget.js" },
  outdir: "nbchat/static",
  bundle: true,
  format: "esm",
  target: "es2020",
  platform: "browser",
  minify: !watch,
  sourcemap: false,
  legalComments: "eof", // the bundled libraries' licence notices stay with their code
  logLevel: "info",
};

if (watch) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
