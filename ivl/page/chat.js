() => {
  // The page's own behaviour, on top of Gradio's: written by hand because Gradio's copy button copies a
  // message's raw content (HTML), and its Markdown has no way to open a citation in place.
  const copy = async (text) => {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {  // not a secure context: the old way
      const area = document.createElement("textarea");
      area.value = text;
      area.style.position = "fixed";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
  };
  // Follow the conversation: once a question is sent, the top of its answer is brought into view when it
  // appears, unless the reader scrolls up meanwhile (then what they are reading stays where it is).
  const answers = () => document.querySelectorAll("#chat .bot-row");
  let follow = false;
  let before = 0;
  let until = 0;
  const asked = () => {
    follow = true;
    until = 0;
    before = answers().length;
  };
  const scrolledUp = () => { follow = false; until = 0; };
  window.addEventListener("wheel", (event) => { if (event.deltaY < 0) scrolledUp(); }, { passive: true });
  window.addEventListener("touchmove", scrolledUp, { passive: true });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && event.target.closest("#question")) asked();
    else if (["PageUp", "ArrowUp", "Home"].includes(event.key) && !event.target.closest("textarea, input")) scrolledUp();
  }, true);
  document.addEventListener("click", (event) => {
    if (event.target.closest("#send")) asked();
    const alone = event.target.closest("a.ivl-alone");
    if (alone) {
      // "Ask it on its own": the question again, through the hidden box and button ivl/ui.py keeps for it.
      event.preventDefault();
      const box = document.querySelector("#alone textarea");
      const question = alone.parentElement.querySelector(".ivl-q");
      if (box && question) {
        box.value = question.getAttribute("title");
        box.dispatchEvent(new Event("input", { bubbles: true }));
        asked();
        setTimeout(() => document.getElementById("ask-alone").click(), 0);
      }
      return;
    }
    const button = event.target.closest('#chat button[aria-label="Copy message"]');
    if (button) {
      // Copy an answer as clean Markdown with its references (ivl/export.py), a question as its text.
      // Gradio draws a message's buttons after the message, as a sibling: walk back to the message.
      let row = button.closest(".message-buttons") || button.parentElement;
      while (row && !row.querySelector(".message-content")) row = row.previousElementSibling;
      const clean = row && row.querySelector(".ivl-md");
      const content = row && row.querySelector(".message-content");
      const text = clean ? clean.getAttribute("title") : (content ? content.innerText : "");
      event.preventDefault();
      event.stopImmediatePropagation();
      copy(text).then(() => {
        button.classList.add("ivl-copied");
        setTimeout(() => button.classList.remove("ivl-copied"), 1500);
      });
      return;
    }
    const cite = event.target.closest("a.ivl-cite");
    if (cite) {
      // [n] opens citation n of this answer and brings it into view.
      event.preventDefault();
      event.stopImmediatePropagation();
      const target = document.getElementById(cite.getAttribute("href").slice(1));
      if (target) {
        target.open = true;
        target.scrollIntoView({ block: "center" });
        target.classList.add("ivl-flash");
        setTimeout(() => target.classList.remove("ivl-flash"), 1600);
      }
    }
  }, true);
  let shown = null;
  new MutationObserver(() => {
    // A new answer is held at the top for a moment after it appears: Gradio redraws the rows above it as it
    // renders them, which moves it.
    const rows = answers();
    if (follow && rows.length > before) {
      if (!until) until = Date.now() + 1500;
      const top = rows[rows.length - 1].getBoundingClientRect().top;
      if (Date.now() > until) {
        follow = false;
        until = 0;
      } else if (Math.abs(top - 8) > 2) {
        window.scrollBy(0, top - 8);
      }
    }
    // The Sources tab opened at a cited place: bring the highlighted quote into view once it is drawn.
    const here = document.getElementById("ivl-here");
    if (here && here !== shown && here.offsetParent !== null) {
      shown = here;
      here.scrollIntoView({ block: "center" });
    }
  }).observe(document.body, { childList: true, subtree: true });
}
