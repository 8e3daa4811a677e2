// A prose block of a message: Markdown rendered to rich text by the view model (headings, lists,
// tables, emphasis, links), selectable; links open in the browser. The text is replaced only
// when the rendering changed, so a streaming reply re-lays out only its growing block.
import QtQuick
import QtQuick.Controls

TextEdit {
    id: block
    property string html: ""
    readOnly: true
    selectByMouse: true
    textFormat: TextEdit.RichText
    wrapMode: TextEdit.Wrap
    color: palette.text
    selectionColor: palette.highlight
    selectedTextColor: palette.highlightedText
    font: Qt.application.font
    Accessible.role: Accessible.StaticText
    Accessible.name: getText(0, length)
    onHtmlChanged: text = html
    Component.onCompleted: text = html
    onLinkActivated: (link) => Qt.openUrlExternally(link)

    HoverHandler {
        cursorShape: block.hoveredLink.length > 0 ? Qt.PointingHandCursor : Qt.IBeamCursor
    }
}
