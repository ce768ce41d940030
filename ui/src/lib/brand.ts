/** KRYPT7's mark, drawn from icons/krypt7.svg (the source of the app icons too), as an
 * image address: the app's screens and the Emergency Kit page show it. */
import mark from "../../../icons/krypt7.svg?raw";

export const markSrc = `data:image/svg+xml,${encodeURIComponent(mark)}`;
