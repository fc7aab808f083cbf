/**
 * The Share button: copies the room's URL to the clipboard and confirms it in a small popover that
 * also shows the URL, so the user can copy it by hand where the Clipboard API is unavailable or denied.
 */

/** Wires `button` to copy `url()` and show the result in `popover`; returns a function that unwires. */
export function mountShare(button: HTMLButtonElement, popover: HTMLElement, url: () => string): () => void {
  const message = popover.querySelector<HTMLElement>('[data-share-message]')!
  const field = popover.querySelector<HTMLInputElement>('[data-share-url]')!
  const close = popover.querySelector<HTMLButtonElement>('[data-share-close]')!

  const hide = () => {
    popover.hidden = true
    button.setAttribute('aria-expanded', 'false')
  }
  const show = (copied: boolean) => {
    field.value = url()
    message.textContent = copied
      ? 'Link copied. Anyone with it can edit.'
      : 'Copy this link to share the document:'
    popover.dataset.copied = String(copied)
    popover.hidden = false
    button.setAttribute('aria-expanded', 'true')
    field.focus()
    field.select()
  }
  const onClick = async () => {
    let copied = false
    try {
      if (navigator.clipboard?.writeText) {
        await navigator.clipboard.writeText(url())
        copied = true
      }
    } catch {
      copied = false
    }
    show(copied)
  }
  const onKey = (event: KeyboardEvent) => {
    if (event.key === 'Escape' && !popover.hidden) {
      hide()
      button.focus()
    }
  }
  const onOutside = (event: MouseEvent) => {
    const target = event.target as Node
    if (!popover.hidden && !popover.contains(target) && !button.contains(target)) hide()
  }

  button.addEventListener('click', onClick)
  close.addEventListener('click', hide)
  document.addEventListener('keydown', onKey)
  document.addEventListener('mousedown', onOutside)
  return () => {
    button.removeEventListener('click', onClick)
    close.removeEventListener('click', hide)
    document.removeEventListener('keydown', onKey)
    document.removeEventListener('mousedown', onOutside)
  }
}
