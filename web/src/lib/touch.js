// A phone or tablet (coarse pointer): Enter stays a new line in text
// boxes, and a tap on a card opens the memory even where it holds a link.
export const touchInput = () => typeof matchMedia === 'function' && matchMedia('(pointer: coarse)').matches;
