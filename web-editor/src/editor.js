// Progressive enhancement of the admin's code, JSON Schema and prompt fields with CodeMirror 6.
// The <textarea> stays in the form (hidden) and receives every change, so the form posts as
// before; without JavaScript it is the plain textarea.
//
//   textarea[data-json]            JSON (validity marked at the line)
//   textarea[data-editor="js"]     JavaScript (syntax errors marked at the line)
//   textarea[data-editor="prompt"] prose / Markdown
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection } from "@codemirror/view";
import { EditorState } from "@codemirror/state";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, syntaxHighlighting, defaultHighlightStyle, indentOnInput, syntaxTree, foldGutter } from "@codemirror/language";
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { linter, lintGutter } from "@codemirror/lint";
import { json, jsonParseLinter } from "@codemirror/lang-json";
import { javascript } from "@codemirror/lang-javascript";

// Syntax errors of the parse tree (lezer marks them as error nodes), one per line.
const treeErrors = (message) => linter((view) => {
  const found = [];
  const seen = new Set();
  syntaxTree(view.state).cursor().iterate((node) => {
    if (!node.type.isError) return;
    const line = view.state.doc.lineAt(node.from).number;
    if (seen.has(line)) return;
    seen.add(line);
    const to = Math.max(node.to, Math.min(node.from + 1, view.state.doc.length));
    found.push({ from: node.from, to, severity: "error", message: `${message} (line ${line})` });
  });
  return found;
});

const languages = {
  json: () => [json(), linter(jsonParseLinter()), lintGutter()],
  js: () => [javascript(), treeErrors("JavaScript syntax error"), lintGutter()],
  prompt: () => [EditorView.lineWrapping],
};

const theme = EditorView.theme({
  "&": { fontSize: "12.5px", border: "1px solid var(--border, #d1d5db)", borderRadius: "6px", background: "#fff" },
  "&.cm-focused": { outline: "2px solid var(--primary, #6366f1)", outlineOffset: "1px" },
  ".cm-scroller": { fontFamily: "var(--font-mono, ui-monospace, SFMono-Regular, Menlo, monospace)", lineHeight: "1.5", minHeight: "8em", maxHeight: "36em" },
  ".cm-gutters": { background: "#f3f4f6", color: "#9ca3af", borderRight: "1px solid #e5e7eb" },
});

function kindOf(area) {
  if (area.dataset.editor) return area.dataset.editor;
  if (area.hasAttribute("data-json")) return "json";
  return null;
}

function enhance(area) {
  const kind = kindOf(area);
  if (!kind || !languages[kind] || area.dataset.enhanced) return;
  area.dataset.enhanced = "true";
  const readOnly = area.disabled || area.readOnly || !!area.closest("fieldset[disabled]");
  const view = new EditorView({
    state: EditorState.create({
      doc: area.value,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), foldGutter(), history(), drawSelection(),
        indentOnInput(), bracketMatching(), closeBrackets(), highlightActiveLine(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorState.readOnly.of(readOnly),
        EditorView.contentAttributes.of({ "aria-label": (area.labels && area.labels[0] && area.labels[0].textContent.trim()) || area.name }),
        EditorView.updateListener.of((u) => {
          if (!u.docChanged) return;
          area.value = u.state.doc.toString();
          // The page's own listeners (the JSON hint) keep working.
          area.dispatchEvent(new Event("input", { bubbles: true }));
        }),
        theme,
        ...languages[kind](),
      ],
    }),
  });
  view.dom.classList.add("cm-field", `cm-field-${kind}`);
  view.dom.dataset.editorFor = area.id || area.name;
  area.style.display = "none";
  area.insertAdjacentElement("afterend", view.dom);
  const label = area.id && document.querySelector(`label[for="${area.id}"]`);
  if (label) label.addEventListener("click", () => view.focus());
}

function enhanceAll(root) {
  root.querySelectorAll("textarea[data-json], textarea[data-editor]").forEach(enhance);
}

document.addEventListener("DOMContentLoaded", () => enhanceAll(document));
document.addEventListener("htmx:load", (e) => enhanceAll(e.target));
window.AladdinEditor = { enhance, enhanceAll };
